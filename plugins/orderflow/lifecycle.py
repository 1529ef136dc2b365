"""The order lifecycle, said once: statuses, transitions, which step takes what, Best Buy's state
groups and the shipment statuses that may hold money.

Everything else derives from this module: the status-machine trigger (``status_transitions``,
migration 001; a test asserts the table equals ``TRANSITIONS``), the operators' input statuses and
Mirakl state checks, the packing queue, the void step, the pages and the Grafana panels. Where SQL
must spell a list (a panel, a named query), a test asserts the list equals the one named here
(tests/test_lifecycle.py). Add a status here first, then its migration row, then its step or page.

Packing is not a link in the chain: it is a fact about the parcel (a pack session closed by a
packer, ``pack_sessions.status = 'packed'``). The ``packed`` status is kept only so history rows
written before migration 010 keep their meaning ("verified at the packing station"); nothing writes
it any more, and tracking takes such an order whatever the settings.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from orderflow.settings import Settings


# -- order statuses -------------------------------------------------------------------------------
class OrderStatus(StrEnum):
    PENDING_ACCEPTANCE = "pending_acceptance"
    ACCEPTED = "accepted"
    ACCEPTANCE_FAILED = "acceptance_failed"
    REFUSED = "refused"
    CANCELED = "canceled"
    LABEL_CREATED = "label_created"
    LABEL_FAILED = "label_failed"
    PACKED = "packed"  # legacy (before migration 010): packing is now a fact about the parcel
    SHIPPED = "shipped"
    TRACKING_FAILED = "tracking_failed"
    # After the sale (issue 13). Best Buy's own cancelation stays CANCELED; ours is apart.
    CANCELED_BY_SELLER = "canceled_by_seller"
    PARTIALLY_REFUNDED = "partially_refunded"
    REFUNDED = "refunded"
    RETURNED = "returned"


S = OrderStatus

# from-status -> allowed to-statuses. None is "the order has no history yet".
TRANSITIONS: dict[OrderStatus | None, frozenset[OrderStatus]] = {
    None: frozenset({S.PENDING_ACCEPTANCE, S.ACCEPTED, S.CANCELED, S.REFUSED}),
    S.PENDING_ACCEPTANCE: frozenset({S.ACCEPTED, S.ACCEPTANCE_FAILED, S.REFUSED, S.CANCELED}),
    # A seller cancelation (OR30 of every line, issue 13) is possible while Best Buy shows SHIPPING:
    # from every status before ``shipped``; a label already bought goes to the void step (ENDED).
    S.ACCEPTED: frozenset({S.LABEL_CREATED, S.LABEL_FAILED, S.CANCELED, S.CANCELED_BY_SELLER}),
    # A label bought for an order Best Buy then cancels is voided (or refunded) by the
    # shipping.void_canceled_labels task; the order still has to be able to say "canceled".
    S.LABEL_CREATED: frozenset({S.PACKED, S.SHIPPED, S.TRACKING_FAILED, S.CANCELED, S.CANCELED_BY_SELLER}),
    S.PACKED: frozenset({S.SHIPPED, S.TRACKING_FAILED, S.CANCELED, S.CANCELED_BY_SELLER}),
    # *_failed goes back to its input state when a person retries it (or ends canceled).
    S.ACCEPTANCE_FAILED: frozenset({S.PENDING_ACCEPTANCE, S.CANCELED, S.REFUSED}),
    S.LABEL_FAILED: frozenset({S.ACCEPTED, S.CANCELED, S.CANCELED_BY_SELLER}),
    S.TRACKING_FAILED: frozenset({S.LABEL_CREATED, S.PACKED, S.CANCELED, S.CANCELED_BY_SELLER}),
    S.REFUSED: frozenset(),
    S.CANCELED: frozenset(),
    S.CANCELED_BY_SELLER: frozenset(),
    # After the sale: refunds (OR28) and returns (RT11/RT25), in whatever order they come.
    S.SHIPPED: frozenset({S.PARTIALLY_REFUNDED, S.REFUNDED, S.RETURNED}),
    S.PARTIALLY_REFUNDED: frozenset({S.REFUNDED, S.RETURNED}),
    S.RETURNED: frozenset({S.PARTIALLY_REFUNDED, S.REFUNDED}),
    S.REFUNDED: frozenset({S.RETURNED}),
}

#: The parcel went out: what follows is after the sale (refunds, returns), driven by people and Best Buy.
AFTER_SHIPPED = frozenset({S.SHIPPED, S.PARTIALLY_REFUNDED, S.REFUNDED, S.RETURNED})
#: No order step ever takes these again (after-sale moves come from pages and the returns sync).
TERMINAL = frozenset({S.REFUSED, S.CANCELED, S.CANCELED_BY_SELLER}) | AFTER_SHIPPED
FINAL_STATES = TERMINAL  # the old name
#: Ended at Best Buy: no parcel may leave, every label bought for it must be voided or refunded.
ENDED = frozenset({S.CANCELED, S.REFUSED, S.CANCELED_BY_SELLER})
#: Canceled, by whoever (Grafana's cancelation rates split them).
CANCELED_STATES = frozenset({S.CANCELED, S.CANCELED_BY_SELLER})
#: Before the parcel left: a seller may cancel lines (OR30) while Best Buy shows SHIPPING.
SELLER_CANCELABLE = frozenset({S.ACCEPTED, S.LABEL_CREATED, S.PACKED, S.LABEL_FAILED, S.TRACKING_FAILED})
#: After the sale, a refund (OR28) may be asked for.
REFUNDABLE = AFTER_SHIPPED

#: A step gave up on the order: a person looks (Grafana "Orders needing a person", the failed task).
FAILED_STATES = frozenset({S.ACCEPTANCE_FAILED, S.LABEL_FAILED, S.TRACKING_FAILED})

# The input state each failure goes back to when a person retries it (clearing the failed task).
RETRY_TARGET: dict[OrderStatus, OrderStatus] = {
    S.ACCEPTANCE_FAILED: S.PENDING_ACCEPTANCE,
    S.LABEL_FAILED: S.ACCEPTED,
    S.TRACKING_FAILED: S.LABEL_CREATED,
}

#: The customer-facing "still with us, not shipped yet" statuses (deadline panels).
OPEN = frozenset(set(S) - TERMINAL)

#: A person's states and where that person sees them: every one must be listed on that page or panel.
PERSON_STATES: dict[OrderStatus, str] = {
    S.ACCEPTANCE_FAILED: "grafana:Orders needing a person now",
    S.LABEL_FAILED: "grafana:Orders needing a person now",
    S.TRACKING_FAILED: "grafana:Orders needing a person now",
}


# -- steps and their inputs -----------------------------------------------------------------------
@dataclass(frozen=True)
class Flags:
    """The settings that change who takes what."""

    pack_gate: bool = False


def flags_of(settings: Settings) -> Flags:
    """The lifecycle flags of the settings."""
    return Flags(pack_gate=bool(settings.pack_verify_gate))


#: Every combination the liveness test walks.
SETTINGS_COMBINATIONS: tuple[Flags, ...] = (Flags(pack_gate=False), Flags(pack_gate=True))

ACCEPTANCE_INPUT: tuple[OrderStatus, ...] = (S.PENDING_ACCEPTANCE,)
SHIPPING_INPUT: tuple[OrderStatus, ...] = (S.ACCEPTED,)
# Tracking takes labelled orders; ``packed`` ones (legacy rows) are packed by definition.
TRACKING_INPUT: tuple[OrderStatus, ...] = (S.LABEL_CREATED, S.PACKED)


def step_inputs(flags: Flags) -> dict[str, tuple[OrderStatus, ...]]:
    """Order step -> the statuses it claims under these settings."""
    return {
        "acceptance": ACCEPTANCE_INPUT,
        "shipping": SHIPPING_INPUT,
        "tracking": TRACKING_INPUT,
    }


def tracking_needs_packed_parcel(flags: Flags) -> bool:
    """With the pack gate on, tracking claims a ``label_created`` order only once its parcel is packed."""
    return flags.pack_gate


#: Order statuses whose labelled, unpacked parcel the packing queue lists: Best Buy may already have
#: been told it shipped (gate off: tracking does not wait), the parcel still has to be packed.
#: After the sale too: a refund (or a return) can come before an unpacked parcel was packed (gate off);
#: the parcel is still ours to pack or to pull, in front of the packer with its status.
PACK_QUEUE_STATUSES: tuple[OrderStatus, ...] = (S.LABEL_CREATED, S.TRACKING_FAILED, S.SHIPPED, S.PARTIALLY_REFUNDED,
                                                S.REFUNDED, S.RETURNED)


def packable_statuses(flags: Flags) -> tuple[OrderStatus, ...]:
    """Statuses in which a packer may scan an order. With the gate on labels are printed at the
    station, so ``accepted`` orders may be verified before their label exists (packed once it does)."""
    return (*PACK_QUEUE_STATUSES, S.ACCEPTED) if flags.pack_gate else PACK_QUEUE_STATUSES


# -- Best Buy (Mirakl) order states ---------------------------------------------------------------
class MiraklState(StrEnum):
    STAGING = "STAGING"
    WAITING_ACCEPTANCE = "WAITING_ACCEPTANCE"
    WAITING_DEBIT = "WAITING_DEBIT"
    WAITING_DEBIT_PAYMENT = "WAITING_DEBIT_PAYMENT"
    SHIPPING = "SHIPPING"
    SHIPPED = "SHIPPED"
    TO_COLLECT = "TO_COLLECT"
    RECEIVED = "RECEIVED"
    CLOSED = "CLOSED"
    REFUSED = "REFUSED"
    CANCELED = "CANCELED"


M = MiraklState

#: Not accepted yet (STAGING: Best Buy's fraud check, then WAITING_ACCEPTANCE).
MIRAKL_WAITING_ACCEPTANCE = frozenset({M.STAGING, M.WAITING_ACCEPTANCE})
#: Accepted, Best Buy still debiting the customer: no label before the debit.
MIRAKL_WAITING_DEBIT = frozenset({M.WAITING_DEBIT, M.WAITING_DEBIT_PAYMENT})
#: Debited, address released: ours to ship.
MIRAKL_SHIPPING = frozenset({M.SHIPPING})
#: Shipped (or later).
MIRAKL_SHIPPED = frozenset({M.SHIPPED, M.TO_COLLECT, M.RECEIVED, M.CLOSED})
#: Ended at Best Buy, and the status each maps to.
MIRAKL_ENDED: dict[MiraklState, OrderStatus] = {M.CANCELED: S.CANCELED, M.REFUSED: S.REFUSED}
#: Best Buy shows the order accepted (by us or by hand in its portal).
MIRAKL_ACCEPTED = MIRAKL_WAITING_DEBIT | MIRAKL_SHIPPING | MIRAKL_SHIPPED
#: Waiting for Best Buy before a label may be bought.
MIRAKL_BEFORE_LABEL = MIRAKL_WAITING_ACCEPTANCE | MIRAKL_WAITING_DEBIT


class MiraklReturnState(StrEnum):
    """States of a Best Buy return (RT11 ``state``)."""

    WAITING_ACCEPTANCE = "WAITING_ACCEPTANCE"
    IN_PROGRESS = "IN_PROGRESS"  # accepted and labelled by Best Buy, on its way back to us
    REFUSED = "REFUSED"
    RECEIVED = "RECEIVED"  # RT25 (or received in store by Best Buy)
    NO_RECEPTION = "NO_RECEPTION"
    CLOSED = "CLOSED"  # RT27
    CANCELED = "CANCELED"


#: A return the seller may still receive (RT25).
MIRAKL_RETURN_ON_ITS_WAY = frozenset({MiraklReturnState.IN_PROGRESS})
#: A return over: nothing for the Receiver to do.
MIRAKL_RETURN_OVER = frozenset({MiraklReturnState.REFUSED, MiraklReturnState.NO_RECEPTION,
                                MiraklReturnState.CLOSED, MiraklReturnState.CANCELED})


def first_status(mirakl_state: str | None) -> tuple[OrderStatus, str]:
    """The first status of an order ingest has never seen, with the reason for the history.

    An order first seen past acceptance was accepted outside orderflow (by hand in Best Buy's
    portal): it becomes ``accepted`` and the shipping step reads it like any other (WAITING_DEBIT*
    waits, SHIPPING ships, SHIPPED or later goes to ``label_failed``, "shipped outside orderflow?",
    for a person: never a label, never OR23/OR24). A state Best Buy's API does not document becomes
    ``pending_acceptance``: the acceptance step never sends OR21 for it and gives it to a person
    (``acceptance_failed``, see ``is_documented``); clearing that task reads Best Buy again.
    """
    if mirakl_state in MIRAKL_WAITING_ACCEPTANCE:
        return S.PENDING_ACCEPTANCE, "new order at Best Buy"
    if mirakl_state in MIRAKL_ENDED:
        return MIRAKL_ENDED[M(mirakl_state)], f"{mirakl_state.lower()} at Best Buy when first seen"
    if mirakl_state in MIRAKL_ACCEPTED:
        return S.ACCEPTED, (f"first seen in {mirakl_state}: accepted outside orderflow (by hand in Best Buy's "
                            "portal?); the shipping step takes it from here")
    return S.PENDING_ACCEPTANCE, (f"first seen in {mirakl_state}, a state Best Buy's API does not document: "
                                  "the acceptance step sends nothing and gives it to a person")


def is_documented(mirakl_state: str | None) -> bool:
    """A state Best Buy's API documents (``MiraklState``); any other is for a person."""
    return mirakl_state in {str(m) for m in MiraklState}


# -- shipment rows (one per package) --------------------------------------------------------------
class ShipmentStatus(StrEnum):
    INTENT = "intent"  # committed before the create: Canada Post may or may not hold it
    CREATED = "created"  # Canada Post holds it (ids known), label not stored yet
    LABEL_STORED = "label_stored"  # label downloaded, validated and stored
    FAILED = "failed"  # Canada Post holds nothing for this request id (refused, or abandoned)
    VOIDED = "voided"
    REFUND_REQUESTED = "refund_requested"


SH = ShipmentStatus

#: A label may have been paid for: the package's current row. Every such row of an ended order is
#: taken by the void step (an ``intent`` is looked up at Canada Post first).
MAY_HOLD_MONEY = frozenset({SH.INTENT, SH.CREATED, SH.LABEL_STORED})
#: The package's live row (the one shipping resumes and the packer ships): the same set.
LIVE = MAY_HOLD_MONEY
#: Canada Post's shipment id is known: a void (or refund request) can be sent for it.
VOIDABLE = frozenset({SH.CREATED, SH.LABEL_STORED})
#: Bought for sure (label spend panels count these).
BOUGHT = VOIDABLE
#: Settled: nothing held at Canada Post (any more).
SETTLED = frozenset({SH.FAILED, SH.VOIDED, SH.REFUND_REQUESTED})
#: A label a packer can print and put on the parcel.
PRINTABLE = frozenset({SH.LABEL_STORED})


# -- money intents (refunds OR28, seller cancelations OR30; migration 012) -------------------------
class MoneyIntentStatus(StrEnum):
    INTENT = "intent"  # committed before the call: Best Buy may or may not hold it (read back first)
    DONE = "done"  # matched to Best Buy's refund/cancelation id
    FAILED = "failed"  # Best Buy refused it: nothing applied


MI = MoneyIntentStatus


# -- auto-replies (migration 003): the ledger row is the intent, written before M12 is called -------
class AutoReplyStatus(StrEnum):
    INTENT = "intent"  # committed before M12: Best Buy may or may not hold the reply (read back first)
    SENT = "sent"  # matched to the reply Best Buy holds
    FAILED = "failed"  # M12 refused it: nothing sent; only the run that failed re-works it
    SKIPPED = "skipped"  # the message no longer awaits an answer: nothing to send


AR = AutoReplyStatus
# What the auto-reply step re-works: every intent, and its own run's failures.
AUTO_REPLY_REWORKABLE = frozenset({AR.INTENT, AR.FAILED})


# -- order events (migration 022): what happened to an order that is no status change -------------
class OrderEvent(StrEnum):
    LINES_CANCELED = "lines_canceled"  # a seller cancelation (OR30) settled: who, why, which lines


# -- Canada Post groups and manifests (end of day) -------------------------------------------------
class GroupStatus(StrEnum):
    OPEN = "open"  # takes the labels of its mailing day
    CLOSED = "closed"  # the close of day began: no new label joins; creates in flight finish
    TRANSMITTING = "transmitting"  # the transmit intent: committed before the call; a doubt stays here
    TRANSMITTED = "transmitted"  # in a manifest (answered, or read back by date): never sent again
    EMPTY = "empty"  # nothing live was left in it when it closed: nothing sent


GS = GroupStatus

#: A label of these groups can still be voided (Canada Post has not been told about it).
GROUP_VOIDABLE = frozenset({GS.OPEN, GS.CLOSED})
#: A transmit may be on its way or done: a void must wait until the group is settled.
GROUP_IN_DOUBT = frozenset({GS.TRANSMITTING})
#: Manifested: a label of the group can only be refunded.
GROUP_MANIFESTED = frozenset({GS.TRANSMITTED})
#: The close of day still has work with these (the "untransmitted past the cut-off" alert watches them).
GROUP_UNSETTLED = frozenset({GS.OPEN, GS.CLOSED, GS.TRANSMITTING})
GROUP_SETTLED = frozenset({GS.TRANSMITTED, GS.EMPTY})


class ManifestStatus(StrEnum):
    LISTED = "listed"  # known at Canada Post, PDF not stored yet
    STORED = "stored"  # PDF downloaded, validated and stored with its sha256
    INVALID = "invalid"  # the PDF failed validation twice: a person looks


# -- the status machine's checks ------------------------------------------------------------------
class TransitionRefused(ValueError):
    """A status change the machine does not allow; nothing was written."""

    def __init__(self, order_id: str, from_status: str | None, to_status: str) -> None:
        self.order_id = order_id
        self.from_status = from_status
        self.to_status = to_status
        super().__init__(
            f"order {order_id}: transition {from_status or '(new)'} -> {to_status} is not allowed"
        )


def is_allowed(from_status: str | None, to_status: str) -> bool:
    try:
        source = OrderStatus(from_status) if from_status is not None else None
        target = OrderStatus(to_status)
    except ValueError:
        return False
    return target in TRANSITIONS[source]


def check(order_id: str, from_status: str | None, to_status: str) -> None:
    if not is_allowed(from_status, to_status):
        raise TransitionRefused(order_id, from_status, to_status)


def all_transitions() -> set[tuple[str | None, str]]:
    return {
        (None if src is None else src.value, dst.value)
        for src, targets in TRANSITIONS.items()
        for dst in targets
    }


def values(items: frozenset[StrEnum] | tuple[StrEnum, ...]) -> list[str]:
    """A set as the sorted plain strings SQL parameters take."""
    return sorted(str(i) for i in items)
