"""Device profiles shipped with gridedge: YAML data only (speakers/, posts/, serial/)."""
