"""A run on paper, importable without TensorFlow: settings, presets, the VGG layer tables, color
modes, the memory estimate, the events and results of a run, recipes and reruns."""
