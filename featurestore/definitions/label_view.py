"""Feast's LabelView: human labels (reviews, ratings, RLHF feedback) kept like features.

A LabelView is a feature view whose rows are labels, usually pushed (`PushSource`) as
reviewers write them, with a field naming who wrote each (`labeler_field`). Training sets
read labels point-in-time correct, as any feature, and online reads return the newest.

Feast names a policy for labels of one key from several labelers (`conflict_policy`).
featurestore computes one: LAST_WRITE_WINS, the newest label whoever wrote it, which is
the feature-view rule everywhere (offline and online). The other two Feast names are
refused rather than silently read as LAST_WRITE_WINS.

In the registry a LabelView is stored as the feature view it is.
"""
from __future__ import annotations

from datetime import timedelta
from enum import Enum

from featurestore.definitions.feature_view import FeatureView
from featurestore.errors import DefinitionError


class ConflictPolicy(Enum):
    """Which label counts when several labelers labelled one key (Feast's names)."""
    LAST_WRITE_WINS = "last_write_wins"
    LABELER_PRIORITY = "labeler_priority"
    MAJORITY_VOTE = "majority_vote"


class LabelView(FeatureView):
    """A feature view of labels: FeatureView's arguments plus Feast's labeler_field and conflict_policy."""

    def __init__(self, *, name: str, labeler_field: str = "labeler",
                 conflict_policy: ConflictPolicy = ConflictPolicy.LAST_WRITE_WINS, reference_feature_view=None,
                 ttl: timedelta | None = timedelta(0), **arguments):
        kind = f"LabelView {name!r}"
        if conflict_policy is not ConflictPolicy.LAST_WRITE_WINS:
            raise DefinitionError(f"{kind}: conflict_policy={conflict_policy} is not computed by featurestore, which "
                                  f"serves the newest label whoever wrote it; use ConflictPolicy.LAST_WRITE_WINS")
        if reference_feature_view is not None:
            raise DefinitionError(f"{kind}: reference_feature_view is not kept by featurestore; leave it out")
        super().__init__(name=name, ttl=ttl, **arguments)
        if self.schema and labeler_field not in {f.name for f in self.schema}:
            raise DefinitionError(f"{kind}: labeler_field {labeler_field!r} is not a field of its schema; add "
                                  f"Field(name={labeler_field!r}, dtype=String) or name the field that holds the "
                                  f"labeler")
        self.labeler_field = labeler_field
        self.conflict_policy = conflict_policy
