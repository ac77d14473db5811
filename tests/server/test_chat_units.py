"""The pure parts of going on with a chat: code cut around the cursor, a client's history
checked, a cut answer resumed within the budget (a scripted engine whose tokens are words;
the LSP tests in test_chat.py and test_chat_resume.py are the proof on real engines)."""

import pytest
from starchat.engine import EngineSettings, PromptTooLongError, Sampling
from starchat.server.context import fit_code
from starchat.server.conversations import Conversation, ConversationStore
from starchat.server.lsp.errors import UserInputError
from starchat.server.turns import Budget, answer_turn, plan_resume

from tests.fake_engine import FakeEngine

CODE = "\n".join(f"line {i}" for i in range(100))


def _fits(lines: int):  # type: ignore[no-untyped-def]
    return lambda text: text.count("\n") + 1 <= lines


def test_code_is_cut_around_the_cursor_with_notes_above_and_below() -> None:
    fitted = fit_code(CODE, _fits(7), 10**6, centre=50)
    assert fitted.splitlines() == [
        "… (48 lines above not shown)",
        *(f"line {i}" for i in range(48, 53)),
        "… (47 more lines not shown)",
    ]


def test_near_the_end_the_room_goes_above() -> None:
    fitted = fit_code(CODE, _fits(7), 10**6, centre=99)
    assert fitted.splitlines() == ["… (94 lines above not shown)"] + [
        f"line {i}" for i in range(94, 100)
    ]


def test_without_a_cursor_the_code_is_cut_from_the_top() -> None:
    assert fit_code(CODE, _fits(4), 10**6) == "line 0\nline 1\nline 2\n… (97 more lines not shown)"
    assert fit_code(CODE, _fits(1000), 10**6, centre=50) == CODE  # what fits is sent whole


def test_text_beyond_the_character_cap_is_never_measured() -> None:
    measured: list[str] = []

    def fits(text: str) -> bool:
        measured.append(text)
        return True

    fitted = fit_code(CODE, fits, 70, centre=50)
    assert all(len(text) < 140 for text in measured)
    assert "line 50" in fitted and "lines above not shown" in fitted


@pytest.mark.parametrize(
    ("history", "problem"),
    [
        ([{"role": "assistant", "content": "Hi"}], "history[0]: expected a user message"),
        ([{"role": "user", "content": "Hi"}], "history[0]: the last message must be"),
        ([{"role": "user", "content": "x"}] * 2, "history[1]: expected a assistant message"),
        (
            [{"role": "user", "content": "x"}, {"role": "assistant", "content": "y"}] * 101,
            "202 messages; at most 200",
        ),
    ],
)
def test_a_history_that_is_no_dialogue_is_refused(history, problem) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(UserInputError, match=problem.replace("[", r"\[").replace("]", r"\]")):
        ConversationStore().start(history)


def _cut_conversation() -> Conversation:
    conversation = Conversation("c")
    for i in range(5):
        conversation.record(f"question {i} " + "word " * 20, "answer " * 20)
    conversation.record("write more", "the start of the answer", cut=True)
    return conversation


def test_a_resumed_answer_keeps_its_question_and_counts_its_start() -> None:
    engine = FakeEngine(EngineSettings(model="and the end"), [], window=300)
    conversation = _cut_conversation()
    turn = plan_resume(engine, conversation, "system", Budget(300, 100))
    assert turn.messages[-1] == {"role": "user", "content": "write more"}
    assert turn.prefix == "the start of the answer"
    assert turn.dropped > 0 and turn.dropped % 2 == 0  # old turns made room, oldest first
    assert engine.count_tokens(turn.messages, turn.prefix) <= 200


async def test_the_resumed_answer_is_joined_in_the_history() -> None:
    engine = FakeEngine(EngineSettings(model="and the end"), [], window=1000)
    conversation = _cut_conversation()
    turn = plan_resume(engine, conversation, "system", Budget(1000, 100))
    answer = await answer_turn(engine, conversation, turn, Sampling())
    assert answer.text == "andtheend"
    assert engine.requests[0].prefix == "the start of the answer"
    assert conversation.history[-2:] == [
        {"role": "user", "content": "write more"},
        {"role": "assistant", "content": "the start of the answerandtheend"},
    ]
    with pytest.raises(UserInputError, match="not cut"):  # it ended ("stop") this time
        plan_resume(engine, conversation, "system", Budget(1000, 100))


def test_an_answer_that_fills_the_window_cannot_go_on() -> None:
    engine = FakeEngine(EngineSettings(), [], window=100)
    conversation = Conversation("c")
    conversation.record("write more", "word " * 80, cut=True)
    with pytest.raises(PromptTooLongError, match="the answer cannot go on") as error:
        plan_resume(engine, conversation, "system", Budget(100, 50))
    assert error.value.excess > 0
