"""Channels the processor's configs use besides storage and network: ``timer://``, ``yaml://``,
``null://`` and ``python://`` (a logic object written in Python). Each registers its protocol in
:mod:`streamproto.registry` on import."""
from streamproto.channels import null, python, timer, yamlfile  # noqa: F401  (registration)
