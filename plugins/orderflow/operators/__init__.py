"""One operator per workflow step; each imports its hooks and the store inside ``execute`` so that
importing this package (a DAG parse) stays cheap and does no I/O."""

from orderflow.operators.acceptance import AcceptOrdersOperator
from orderflow.operators.base import RunVerdictOperator
from orderflow.operators.ingest import IngestOrdersOperator
from orderflow.operators.shipping import BuyLabelsOperator
from orderflow.operators.tracking import PushTrackingOperator
from orderflow.operators.void_labels import VoidCanceledLabelsOperator

__all__ = [
    "AcceptOrdersOperator",
    "BuyLabelsOperator",
    "IngestOrdersOperator",
    "PushTrackingOperator",
    "RunVerdictOperator",
    "VoidCanceledLabelsOperator",
]
