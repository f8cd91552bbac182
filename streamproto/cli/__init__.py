"""The `streamproto` command line: thin click wrappers over tllschema and streamproto."""
