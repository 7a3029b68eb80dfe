"""The builtin requirements language read the way people write: every sentence of a
prompt either changes the spec as intended, or is named (in `not_understood`, or in the
error that fails the request). Nothing is silently ignored."""

from __future__ import annotations

import pytest

from genflow.pipeline.spec import (
    BadRequirements,
    ProjectSpec,
    extend_requirements,
    parse_requirements,
)
from genflow.providers import SpecRequest
from genflow.providers.builtin import BuiltinProvider


def shape(spec: ProjectSpec) -> dict[str, dict[str, str]]:
    """Entity -> field -> "type", with "!" if required, "*" if unique, "->Ref"."""
    return {
        entity.name: {
            f.name: f.type
            + ("!" if f.required else "")
            + ("*" if f.unique else "")
            + (f"->{f.ref}" if f.ref else "")
            for f in entity.fields
        }
        for entity in spec.entities
    }


# -- first generations: each prompt yields exactly these entities, nothing unread -----

FIRST: list[tuple[str, dict[str, dict[str, str]]]] = [
    (
        "Book has title (text, required), author and year (integer).",
        {"Book": {"title": "str!", "author": "str", "year": "int"}},
    ),
    ("Each book has a title and an author.", {"Book": {"title": "str", "author": "str"}}),
    (
        "Books have a title, an author and a published date.",
        {"Book": {"title": "str", "author": "str", "published_date": "date"}},
    ),
    ("A member has a name and a unique email.", {"Member": {"name": "str", "email": "str*"}}),
    ("Add a Task with a title and a due date.", {"Task": {"title": "str", "due_date": "date"}}),
    ("Create an entity called Tag with a name.", {"Tag": {"name": "str"}}),
    (
        "Customer with name, email and phone.",
        {"Customer": {"name": "str", "email": "str", "phone": "str"}},
    ),
    (
        "Invoices with a number (text, unique), an amount (decimal) and an issued date.",
        {"Invoice": {"number": "str*", "amount": "decimal", "issued_date": "date"}},
    ),
    (
        "Track expenses with an amount, a date and a category (text).",
        {"Expense": {"amount": "float", "date": "date", "category": "str"}},
    ),
    (
        "Users can create projects with a name and a deadline (date).",
        {"Project": {"name": "str", "deadline": "date"}},
    ),
    (
        "I need a todo app where people can add tasks with a title and a due date, "
        "and mark them done.",
        {"Task": {"title": "str", "due_date": "date", "done": "bool"}},
    ),
    (
        "Order: number (text, required), placed_at and total.",
        {"Order": {"number": "str!", "placed_at": "datetime", "total": "float"}},
    ),
    (
        "Product has price as a decimal and stock as an integer.",
        {"Product": {"price": "decimal", "stock": "int"}},
    ),
    (
        "Employee has a manager (Employee) and a full name.",
        {"Employee": {"manager": "ref->Employee", "full_name": "str"}},
    ),
    (
        "Tickets with a status (one of open/closed), a done flag and is_urgent.",
        {"Ticket": {"status": "enum", "done": "bool", "is_urgent": "bool"}},
    ),
    ("Define a Category with a required name.", {"Category": {"name": "str!"}}),
    (
        "Every note should have a body and an optional title.",
        {"Note": {"body": "str", "title": "str"}},
    ),
    (
        "Build an API for tracking expenses with an amount and a date.",
        {"Expense": {"amount": "float", "date": "date"}},
    ),
    (
        "We want a recipe app with recipes that have a title and servings (integer).",
        {"Recipe": {"title": "str", "servings": "int"}},
    ),
    (
        "Let users log workouts with a date, a duration (integer) and whether it was finished.",
        {"Workout": {"date": "date", "duration": "int", "finished": "bool"}},
    ),
    (
        "Recipe has title. Ingredient has name. "
        "A recipe item links a recipe to an ingredient with quantity (text).",
        {
            "Recipe": {"title": "str"},
            "Ingredient": {"name": "str"},
            "RecipeItem": {
                "recipe": "ref!->Recipe",
                "ingredient": "ref!->Ingredient",
                "quantity": "str",
            },
        },
    ),
    (
        "Comment belongs to Post. Post has title. Comment has body.",
        {"Post": {"title": "str"}, "Comment": {"body": "str", "post": "ref!->Post"}},
    ),
    (
        "Post has title. User has name. Each post references a user.",
        {"Post": {"title": "str", "user": "ref->User"}, "User": {"name": "str"}},
    ),
    (
        "Post has title and many comments. Comment has body.",
        {"Post": {"title": "str"}, "Comment": {"body": "str", "post": "ref->Post"}},
    ),
    (
        "Project has name. Task has title. Tasks are assigned to projects.",
        {"Project": {"name": "str"}, "Task": {"title": "str", "project": "ref->Project"}},
    ),
    (
        "Tasks have a title. Tasks also have a priority (integer).",
        {"Task": {"title": "str", "priority": "int"}},
    ),
]


@pytest.mark.parametrize(("prompt", "expected"), FIRST, ids=[p for p, _ in FIRST])
def test_first_generation_reads_each_phrasing(
    prompt: str, expected: dict[str, dict[str, str]]
) -> None:
    spec = parse_requirements(prompt)
    assert shape(spec) == expected
    assert spec.not_understood == []


# -- iterations on one base: each sentence makes exactly these changes ------------------

BASE = parse_requirements(
    "A todo app. Task has title (text, required), due_date and done. "
    "Project has name (text, unique). User has name and email."
)

ITERATIONS: list[tuple[str, list[str]]] = [
    ("Add a priority (integer) to Task.", ["added field Task.priority"]),
    (
        "Add priority and notes fields to tasks.",
        ["added field Task.priority", "added field Task.notes"],
    ),
    ("Add a field called estimate (float) to each task.", ["added field Task.estimate"]),
    ("Give tasks a priority (integer).", ["added field Task.priority"]),
    ("Tasks also have a description.", ["added field Task.description"]),
    ("Remove the due date from tasks.", ["removed field Task.due_date"]),
    ("Task no longer needs a due date.", ["removed field Task.due_date"]),
    ("Remove the due date.", ["removed field Task.due_date"]),
    ("Delete the Project entity.", ["removed entity Project"]),
    ("Drop users.", ["removed entity User"]),
    ("Rename Task to Todo.", ["renamed entity Task to Todo"]),
    ("Rename title of Task to name.", ["renamed field Task.title to name"]),
    ("Rename Task.title to headline.", ["renamed field Task.title to headline"]),
    ("Rename due_date to deadline.", ["renamed field Task.due_date to deadline"]),
    ("Make title of Task unique.", ["changed field Task.title"]),
    ("Make the task's title optional.", ["changed field Task.title"]),
    ("Make Task.due_date a datetime.", ["changed field Task.due_date"]),
    ("Change done of Task to text.", ["changed field Task.done"]),
    ("The email of a user should be unique.", ["changed field User.email"]),
    ("Task belongs to Project.", ["added field Task.project"]),
    ("Tasks reference projects.", ["added field Task.project"]),
    (
        "Each task belongs to a project and a user.",
        ["added field Task.project", "added field Task.user"],
    ),
    ("Projects have many tasks.", ["added field Task.project"]),
    ("Each task links to a project.", ["added field Task.project"]),
    ("Tasks are assigned to users.", ["added field Task.user"]),
    ("Add Tag with name and color.", ["added entity Tag"]),
    ("We also need comments with a body and an author (User).", ["added entity Comment"]),
    ("Users should be able to add notes with a text.", ["added entity Note"]),
    (
        "A membership links a user to a project with role (one of owner/member).",
        ["added entity Membership"],
    ),
]


@pytest.mark.parametrize(("sentence", "changes"), ITERATIONS, ids=[s for s, _ in ITERATIONS])
def test_iteration_reads_each_phrasing(sentence: str, changes: list[str]) -> None:
    spec, made = extend_requirements(BASE, sentence)
    assert made == changes
    assert spec.not_understood == []


def test_iterations_change_the_spec_as_intended() -> None:
    spec, _ = extend_requirements(
        BASE, "Make Task.due_date a datetime. Rename title of Task to name."
    )
    assert shape(spec)["Task"] == {"name": "str!", "due_date": "datetime", "done": "bool"}
    spec, _ = extend_requirements(BASE, "Rename Project to Board. Task belongs to Board.")
    assert shape(spec)["Task"]["board"] == "ref!->Board" and "Project" not in shape(spec)
    spec, _ = extend_requirements(BASE, "Make the task's title optional and unique.")
    assert shape(spec)["Task"]["title"] == "str*"
    spec, _ = extend_requirements(BASE, "Task belongs to Project. Delete the Project entity.")
    assert "project" not in shape(spec)["Task"]


# -- what cannot be used is named: in the error, or in not_understood -------------------

FAILING: list[tuple[ProjectSpec | None, str, str]] = [
    (None, "Please build me something lovely.", 'no entity found in "Please build me something'),
    (None, "Make something. Keep it nice.", '"Make something"; "Keep it nice"'),
    # Quoted once, though it is both the intro and an unread sentence.
    (None, "I want an app to track my books", 'in "I want an app to track my books": describe'),
    (BASE, "Please make it nicer.", 'changes nothing: could not read "Please make it nicer"'),
    (BASE, "Add tags.", 'could not read "Add tags"'),
    (BASE, "Make title of Task blob.", 'could not read "Make title of Task blob"'),
    (BASE, "Task has title (text, required).", "changes nothing: the spec already is"),
    (BASE, "Comment belongs to Ghost.", 'sentence 1 ("Comment belongs to Ghost"): there is no'),
    (BASE, "Remove title from Ghost.", 'sentence 1 ("Remove title from Ghost"): there is no'),
    (BASE, "Rename Ghost to Spirit.", "there is no entity or field Ghost"),
    (BASE, "Remove the name.", 'sentence 1 ("Remove the name"): Project and User both have'),
    (
        None,
        "Cat has age (integer). Cat has age (text).",
        'sentence 2 ("Cat has age (text)"): Cat.age is declared twice',
    ),
    (None, "Zoo has name (blob).", 'sentence 1 ("Zoo has name (blob)"): unknown type'),
    (None, "Tag has name. A pin links a tag to a tag.", "a link needs two different entities"),
    (BASE, "Add a Tag entity. Tag has many projects.", 'sentence 2 ("Tag has many projects"'),
]


@pytest.mark.parametrize(("base", "prompt", "message"), FAILING, ids=[p for _, p, _ in FAILING])
def test_what_cannot_be_used_fails_naming_it(
    base: ProjectSpec | None, prompt: str, message: str
) -> None:
    with pytest.raises(BadRequirements) as raised:
        if base is None:
            parse_requirements(prompt)
        else:
            extend_requirements(base, prompt)
    assert message in str(raised.value)


def test_unread_sentences_of_a_first_generation_are_listed_and_kept_as_notes() -> None:
    spec = parse_requirements(
        "A recipe box. Recipe has title (text, required). It should feel cosy. "
        "Ingredient has name. The colours must be warm."
    )
    assert spec.description == "A recipe box" and spec.name == "recipe_box"
    assert spec.not_understood == ["It should feel cosy", "The colours must be warm"]
    assert spec.notes == spec.not_understood
    assert [e.name for e in spec.entities] == ["Recipe", "Ingredient"]


def test_a_first_sentence_that_is_no_description_is_reported() -> None:
    spec = parse_requirements("Keep everything as simple as possible. Cat has name.")
    assert spec.not_understood == ["Keep everything as simple as possible"]
    assert spec.description == "A project with Cat"


def test_an_iteration_that_changes_something_names_what_it_did_not_read() -> None:
    spec, changes = extend_requirements(BASE, "Make it pretty. Add a color to projects.")
    assert changes == ["added field Project.color"]
    assert spec.not_understood == ["Make it pretty"]
    assert spec.notes == [*BASE.notes, "Make it pretty"]
    again, _ = extend_requirements(spec, "Add a size to projects.")
    assert again.not_understood == []  # each generation reports its own prompt only


def test_an_iteration_may_change_only_the_template() -> None:
    spec, changes = extend_requirements(BASE, "Switch to a web service.", "fastapi-service")
    assert changes == ["changed template from python-library to fastapi-service"]
    assert spec.template == "fastapi-service"
    assert spec.not_understood == ["Switch to a web service"]


async def test_variables_the_builtin_provider_does_not_read_are_reported() -> None:
    provider = BuiltinProvider()
    variables: dict[str, object] = {"name": "my_books", "owner": "ann", "colour": "red"}
    request = SpecRequest("Book has title.", None, variables, None)
    spec, _, _ = await provider.extract_spec(request, lambda: None)
    assert spec.name == "my_books"
    assert spec.unused_variables == ["owner", "colour"]
    not_a_name = SpecRequest("Book has title.", None, {"name": 42}, None)
    spec, _, _ = await provider.extract_spec(not_a_name, lambda: None)
    assert spec.unused_variables == ["name"]

    iteration = SpecRequest("Book has isbn.", None, {"name": "my_books"}, None, base=spec)
    child, _, _ = await provider.extract_spec(iteration, lambda: None)
    assert child.unused_variables == ["name"]  # an iteration keeps its parent's name
    same = SpecRequest("Book has isbn.", None, {"name": spec.name}, None, base=spec)
    child, _, _ = await provider.extract_spec(same, lambda: None)
    assert child.unused_variables == []
