"""REST interface of the kernel: authentication, permissions, errors, audit reads."""
