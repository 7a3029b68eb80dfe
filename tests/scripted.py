"""Stage activities whose pace and faults a test scripts per generation, through
`metadata["test"]`: {"pace": seconds per stage, or {stage name: seconds}; "fail_once":
stage name; "fail_always": stage name; "fail_until": stage name; "flag": a file that,
once it exists, stops it; "block": {stage name: seconds its work blocks a thread};
"run_code": whether the review runs the project's tests, overriding the worker's
`run_generated_code`}. The real stage work still runs after the scripted part."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path
from typing import Any

from temporalio import activity

from activities.stages import StageActivities, StageOutput, StageWork
from genflow.contracts import StageInput, StageResult
from genflow.domain import StageName


class ScriptedStages(StageActivities):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._scripted_run_code: dict[uuid.UUID, bool] = {}

    def _runs_generated_code(self, generation_id: uuid.UUID) -> bool:
        return self._scripted_run_code.get(generation_id, self._run_generated_code)

    async def _run(self, input: StageInput, stage: StageName, work: StageWork) -> StageResult:
        generation = await self._repository.get(uuid.UUID(input.generation_id))
        script = generation.meta.get("test", {}) if generation else {}
        attempt = activity.info().attempt

        async def scripted(generation_id: uuid.UUID) -> StageOutput:
            pace = script.get("pace", 0)
            await asyncio.sleep(float(pace.get(stage, 0) if isinstance(pace, dict) else pace))
            if stage in script.get("block", {}):
                await asyncio.to_thread(time.sleep, float(script["block"][stage]))
            if script.get("fail_once") == stage and attempt == 1:
                raise RuntimeError("transient failure injected by the test")
            if script.get("fail_always") == stage:
                raise RuntimeError(f"the stage's own error, attempt {attempt}")
            flagged = "flag" in script and await asyncio.to_thread(Path(script["flag"]).exists)
            if script.get("fail_until") == stage and not flagged:
                raise RuntimeError(f"fails until {script['flag']} exists")
            if "run_code" not in script:
                return await work(generation_id)
            # Read by _runs_generated_code while this attempt's work runs, and only then.
            self._scripted_run_code[generation_id] = bool(script["run_code"])
            try:
                return await work(generation_id)
            finally:
                self._scripted_run_code.pop(generation_id, None)

        return await super()._run(input, stage, scripted)
