"""The command line's commands, one module each, over the library below."""
