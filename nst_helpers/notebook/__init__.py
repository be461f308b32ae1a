"""Notebook widgets: the weight sliders, uploads and the gallery of results."""
