# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
"""What the runtime offers and the files it writes, importing nothing: ``--help`` and a host that
lacks numpy, Pillow or OpenCV get an answer before any of them is imported."""

#: The backends a deploy folder is written for (``deploy.json``'s ``backend``).
BACKENDS = ('mindspore', 'onnxruntime')
#: What runs a folder (``--backend``): its own backend, or ``om`` for the offline models that a
#: static ONNX folder's ``atc.sh`` makes (ais_bench on the Ascend NPU).
RUN_BACKENDS = BACKENDS + ('om', )
#: The device targets a backend may be asked for (``--device-target``).
DEVICE_TARGETS = ('CPU', 'GPU', 'Ascend')
#: The files a run writes besides the predictions.
METRICS_FILE = 'metrics.json'
RUN_FILE = 'run.json'
CONFUSION_STEM = 'confusion_matrix'
