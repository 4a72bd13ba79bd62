"""Scanning at scale: engines beyond the plain in-process one (``artcheck check --engine ray``)."""
