"""Facade of TLL's Python package for logic modules run by ``streamproto run`` (see
:mod:`streamproto.tllfacade`): the names resolve to :mod:`streamproto.logic`."""
