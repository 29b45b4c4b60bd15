"""Datasets as versioned artifacts, before any run: manifests (freeze, verify), export from a
run record and import from other formats, PII scrubbing, and sync to S3-compatible storage.

Behind ``llmbench dataset``; the plugin only reads a manifest (at collection, to verify).
No pytest import: every part is a function over files.
"""
