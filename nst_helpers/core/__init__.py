"""The method the main notebook teaches: losses, the VGG feature extractor, the objective, the
optimizers (the Adam step first) and the image pyramid."""
