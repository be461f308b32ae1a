"""Showing a run: progress bars, live previews, loss plots, side-by-side images and GIFs."""
