"""releaseguard: guards progressive releases of plain Kubernetes Deployments."""
