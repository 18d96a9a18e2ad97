"""kgan: a command-line GAN workbench on Keras 3.

Importing this package is cheap: TensorFlow and Keras load only when a command
needs them, so ``kgan --help`` answers at once.
"""

__version__ = "0.1.0"
