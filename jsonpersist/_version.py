"""The version of jsonpersist, in the one place the build and the package both read it from."""

__version__ = "0.1.0"
