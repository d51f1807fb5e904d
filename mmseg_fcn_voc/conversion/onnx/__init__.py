# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
"""The ONNX backend: the pipeline's backend (:mod:`.backend`), Ascend ATC's constraints and script
(:mod:`.atc`) and onnxruntime's int8 quantizer (:mod:`.quantize`). The only place of the torch side
that imports onnx / onnxruntime."""
