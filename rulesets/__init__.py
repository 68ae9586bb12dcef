"""Sample rulesets, shipped as package data."""
