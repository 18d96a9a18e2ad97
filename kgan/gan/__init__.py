"""The GAN itself: networks, the alternating update, losses, conditions, augmentation, the
moving average of G, and what each step trains on. Importing this package loads no TensorFlow;
the modules that build or run networks load it when they are imported."""
