from gridflex.errors import GridflexError

__all__ = ["GridflexError"]
