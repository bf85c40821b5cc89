"""The only package that talks to the apiserver: observe the world, execute plans, write status."""
