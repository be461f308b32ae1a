"""Print sizes and many machines: tile plans, tiled coarse-to-fine runs and the Ray pool."""
