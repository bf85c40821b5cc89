"""What a release changed and what went wrong, as facts with numbers: diagnosis and validation reports."""
