"""Frontdesk: a rules-plus-LLM engine for customer service. The LLM proposes facts; the rules decide."""

__version__ = "0.1.0"
