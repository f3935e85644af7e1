"""The table of definition kinds (featurestore.definitions.kinds) agrees with what derives from it."""
import dataclasses

from featurestore.definitions import DEFINITION_TYPES
from featurestore.definitions.kinds import KINDS
from featurestore.protos import registry_pb2
from featurestore.registry import RegistryState
from featurestore.repo import RepoContents


def test_every_definition_field_of_the_registry_message_is_a_row():
    fields = registry_pb2.Registry.DESCRIPTOR.fields_by_name
    messages = {name: f.message_type.name for name, f in fields.items()  # not last_updated, a Timestamp
                if f.message_type is not None and f.message_type.file.name == registry_pb2.DESCRIPTOR.name}
    assert messages == {kind.field: kind.cls.__name__ for kind in KINDS}


def test_registry_state_and_repo_contents_have_one_dict_per_row():
    for cls in (RegistryState, RepoContents):
        names = [f.name for f in dataclasses.fields(cls)]
        assert all(kind.field in names for kind in KINDS)
    state, contents = RegistryState(project="p"), RepoContents()
    for kind in KINDS:
        assert state.collection(kind.field) == {} == getattr(contents, kind.field)
    assert RegistryState.from_proto(state.to_proto()) == state


def test_names_are_unique_and_help_order_is_a_permutation():
    for column in ("cls", "field", "singular", "label", "command"):
        values = [getattr(kind, column) for kind in KINDS]
        assert len(set(values)) == len(values), column
    assert sorted(kind.help_order for kind in KINDS) == list(range(len(KINDS)))
    assert DEFINITION_TYPES == tuple(kind.cls for kind in KINDS)
