# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
"""The ONNX backend: the exporter checked with onnxruntime (:mod:`.export`). The only place of the
torch side that imports onnx / onnxruntime."""
