"""Customer impact of a release and its severity: pure, no Kubernetes or HTTP."""
