"""The prompt budget of a turn, with a scripted engine whose tokens are words."""

import pytest
from starchat.engine import EngineSettings, PromptTooLongError, Sampling
from starchat.prompts.actions import ActionSlots
from starchat.server.context import build_user_message
from starchat.server.conversations import Conversation
from starchat.server.turns import Budget, answer_turn, plan_turn

from tests.fake_engine import FakeEngine

SYSTEM = "You are a helpful coding assistant."


def _engine(window: int, answer: str = "use sorted") -> FakeEngine:
    return FakeEngine(EngineSettings(model=answer), [], window=window)


def _plain(message: str):  # type: ignore[no-untyped-def]
    return lambda _count, _budget: message


def _history(turns: int) -> Conversation:
    conversation = Conversation("c")
    for i in range(turns):
        conversation.record(f"question {i} " + "word " * 20, "answer " * 20)
    return conversation


def test_the_answer_reserve_is_at_most_half_the_window() -> None:
    assert Budget(1000, 256).prompt == 744
    assert Budget(1000, 900).prompt == 500
    assert Budget.of(_engine(8192), 256, context_tokens=2048) == Budget(2048, 256)
    assert Budget.of(_engine(1024), 256, context_tokens=4096).window == 1024


def test_old_turns_leave_whole_and_oldest_first_and_the_question_stays() -> None:
    engine, conversation = _engine(400), _history(10)
    turn = plan_turn(engine, conversation, SYSTEM, _plain("and now?"), Budget(400, 100))
    assert turn.dropped > 0 and turn.dropped % 2 == 0
    assert turn.messages[0] == {"role": "system", "content": SYSTEM}
    assert turn.messages[-1] == {"role": "user", "content": "and now?"}
    kept = [m["content"] for m in turn.messages[1:-1:2]]
    assert kept == [f"question {i} " + "word " * 20 for i in range(10 - len(kept), 10)]
    assert engine.count_tokens(turn.messages) <= 300
    assert len(conversation.history) == 20 - turn.dropped  # the dropped ones are forgotten


def test_the_answer_gets_what_the_prompt_leaves_up_to_its_limit() -> None:
    engine = _engine(400)
    short = plan_turn(engine, Conversation("a"), SYSTEM, _plain("hi"), Budget(400, 100))
    assert short.max_new_tokens == 100
    tight = plan_turn(engine, Conversation("b"), SYSTEM, _plain("w " * 150), Budget(400, 300))
    prompt = engine.count_tokens(tight.messages)
    assert prompt > 100 and tight.max_new_tokens == 400 - prompt < 300


def test_code_is_cut_to_the_budget_before_any_history_is_kept() -> None:
    engine, conversation = _engine(300), _history(3)
    code = "\n".join(f"x{i} = {i}  # line {i}" for i in range(200))
    editor = ActionSlots("python", "big.py", code)

    def build(count, budget):  # type: ignore[no-untyped-def]
        return build_user_message("Explain this", editor, count, budget)

    turn = plan_turn(engine, conversation, SYSTEM, build, Budget(300, 100))
    assert "x0 = 0" in turn.user and "x199 = 199" not in turn.user
    assert "lines" in turn.user.split("x0 = 0")[1]  # the cut is said, not hidden
    assert engine.count_tokens(turn.messages) <= 200
    assert turn.messages[-1]["content"] == turn.user


def test_a_question_that_cannot_fit_says_by_how_much() -> None:
    engine = _engine(100)
    with pytest.raises(PromptTooLongError) as error:
        plan_turn(engine, Conversation("c"), SYSTEM, _plain("w " * 80), Budget(100, 50))
    assert (
        error.value.excess
        == engine.count_tokens(
            [{"role": "system", "content": SYSTEM}, {"role": "user", "content": "w " * 80}]
        )
        - 50
    )


async def test_an_answer_stopped_midway_is_remembered_as_far_as_it_got() -> None:
    engine, conversation = _engine(400, answer="one two three four"), Conversation("c")
    turn = plan_turn(engine, conversation, SYSTEM, _plain("count"), Budget(400, 50))
    seen: list[str] = []

    def stop_after_two(text: str) -> None:
        seen.append(text)
        if len(seen) == 2:
            raise KeyboardInterrupt  # the user stopped the answer

    with pytest.raises(KeyboardInterrupt):
        await answer_turn(engine, conversation, turn, Sampling(), stop_after_two)
    assert conversation.history == [
        {"role": "user", "content": "count"},
        {"role": "assistant", "content": "onetwo"},
    ]


async def test_a_whole_answer_is_recorded_with_its_usage() -> None:
    engine, conversation = _engine(400, answer="use sorted"), Conversation("c")
    turn = plan_turn(engine, conversation, SYSTEM, _plain("sort?"), Budget(400, 50))
    answer = await answer_turn(engine, conversation, turn, Sampling(temperature=0.0))
    assert answer.text == "usesorted" and answer.usage.finish_reason == "stop"
    assert engine.requests[0].sampling == Sampling(max_new_tokens=50, temperature=0.0)
    assert conversation.history[-1] == {"role": "assistant", "content": "usesorted"}


@pytest.mark.parametrize(("purpose", "penalty"), [("code", 1.0), ("chat", None)])
async def test_code_answers_never_get_a_repetition_penalty(purpose: str, penalty: float) -> None:
    from starchat.server.model_host import ModelHost
    from starchat.server.options import Options
    from starchat.server.turns import take_turn

    engine = _engine(400)
    host = ModelHost(lambda settings, progress: engine)
    host.configure(Options().engine_settings())
    await take_turn(host, Options(), Conversation("c"), _plain("fix it"), purpose=purpose)  # type: ignore[arg-type]
    assert engine.requests[0].sampling.repetition_penalty == penalty
    await host.close()
