"""Pydantic models of the ReleaseValidation API; the CRD is generated from them."""
