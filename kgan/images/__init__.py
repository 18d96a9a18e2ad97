"""Images in and out: reading any folder or clip into one array, the decoded-image cache,
the supported resolutions, turning generator output into PNGs and grids, and the embedded
data set. Nothing here imports TensorFlow, so folders can be decoded in forked processes."""
