"""Crystal structure generators."""
