"""One operator per workflow step; each imports its hooks and the store inside ``execute`` so that
importing this package (a DAG parse) stays cheap and does no I/O."""

from orderflow.operators.acceptance import AcceptOrdersOperator
from orderflow.operators.base import RunVerdictOperator
from orderflow.operators.end_of_day import CloseDayOperator
from orderflow.operators.ingest import IngestOrdersOperator
from orderflow.operators.shipping import BuyLabelsOperator
from orderflow.operators.tracking import PushTrackingOperator
from orderflow.operators.void_labels import VoidCanceledLabelsOperator

__all__ = [
    "AcceptOrdersOperator",
    "BuyLabelsOperator",
    "CloseDayOperator",
    "IngestOrdersOperator",
    "PushTrackingOperator",
    "RunVerdictOperator",
    "VoidCanceledLabelsOperator",
]
