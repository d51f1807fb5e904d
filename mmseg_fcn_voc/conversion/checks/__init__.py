# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
"""The exporters' checks, in the order the pipeline runs them (:mod:`..pipeline`). Each decides
from the options whether it applies and returns its report sections (:class:`~..context.Check`);
a new check is one module here and one entry below."""
from .gear_agreement import GearAgreementCheck
from .int8 import Int8Check
from .parity import ParityCheck
from .precision import PrecisionPlanCheck

CHECKS = (ParityCheck(), GearAgreementCheck(), PrecisionPlanCheck(), Int8Check())

__all__ = ['CHECKS', 'ParityCheck', 'GearAgreementCheck', 'PrecisionPlanCheck', 'Int8Check']
