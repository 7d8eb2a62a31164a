"""What the caller hears: the names the IVR and the service ask for, mapped to audio.

`EdgePrompts` adapts the prompt cache (`sip_edge.media.prompts.PromptCache`) to the
`call_flow.PromptSource` port: tenants' prompts at 8 kHz, and built-in announcements by the
names `sip_edge.ivr` and `sip_edge.service` use.
"""

from __future__ import annotations

import logging

from shared.logs import log_event
from sip_edge.media.prompts import PromptCache
from sip_edge.media.system_prompts import SystemPrompt

log = logging.getLogger("sip_edge.announcements")

SYSTEM_FOR: dict[str, SystemPrompt] = {
    "beep": SystemPrompt.BEEP,
    "voicemail_greeting": SystemPrompt.DEFAULT_VOICEMAIL_GREETING,
    "greeting": SystemPrompt.TEXT_GREETING_PLACEHOLDER,
    "enter_extension": SystemPrompt.TEXT_GREETING_PLACEHOLDER,
    "invalid_option": SystemPrompt.INVALID_OPTION,
    "invalid_extension": SystemPrompt.INVALID_OPTION,
    "no_input": SystemPrompt.NO_INPUT,
    "unavailable": SystemPrompt.GOODBYE,
    "goodbye": SystemPrompt.GOODBYE,
    "service_suspended": SystemPrompt.SERVICE_SUSPENDED,
    "number_not_in_service": SystemPrompt.NUMBER_NOT_IN_SERVICE,
}


class EdgePrompts:
    def __init__(self, cache: PromptCache) -> None:
        self.cache = cache

    async def tenant_prompt(self, tenant_id: str, prompt_id: str) -> bytes | None:
        try:
            return await self.cache.get(prompt_id, 8000, tenant_id=tenant_id)
        except Exception as exc:  # missing, not converted yet, Blob down: the caller hears a chime
            fields = {"tenant_id": tenant_id, "prompt_id": prompt_id, "error": str(exc)}
            log_event(log, "prompt_unavailable", logging.WARNING, **fields)
            return None

    def system(self, name: str) -> bytes:
        return self.cache.system(SYSTEM_FOR.get(name, SystemPrompt.GOODBYE))
