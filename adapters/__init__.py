"""Integrations with outside systems: model vendors, CRM, channels, knowledge stores."""
