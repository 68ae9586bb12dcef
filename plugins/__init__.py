"""Built-in plugins, written with the same public hooks a third party uses."""
