"""Stage activities whose pace and faults a test scripts per generation, through
`metadata["test"]`: {"pace": seconds per stage, "fail_once": stage name, "fail_always":
stage name, "fail_until": stage name, "flag": a file that, once it exists, stops it,
"block": {stage name: seconds its work blocks a thread}}.
The real stage work still runs after the scripted part."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path

from temporalio import activity

from activities.stages import StageActivities, StageOutput, StageWork
from genflow.contracts import StageInput, StageResult
from genflow.domain import StageName


class ScriptedStages(StageActivities):
    async def _run(self, input: StageInput, stage: StageName, work: StageWork) -> StageResult:
        generation = await self._repository.get(uuid.UUID(input.generation_id))
        script = generation.meta.get("test", {}) if generation else {}
        attempt = activity.info().attempt

        async def scripted(generation_id: uuid.UUID) -> StageOutput:
            await asyncio.sleep(float(script.get("pace", 0)))
            if stage in script.get("block", {}):
                await asyncio.to_thread(time.sleep, float(script["block"][stage]))
            if script.get("fail_once") == stage and attempt == 1:
                raise RuntimeError("transient failure injected by the test")
            if script.get("fail_always") == stage:
                raise RuntimeError(f"the stage's own error, attempt {attempt}")
            flagged = "flag" in script and await asyncio.to_thread(Path(script["flag"]).exists)
            if script.get("fail_until") == stage and not flagged:
                raise RuntimeError(f"fails until {script['flag']} exists")
            return await work(generation_id)

        return await super()._run(input, stage, scripted)
