class StackError(RuntimeError):
    """A failure of the local stack that a person can act on: what went wrong and what to do."""

    def __init__(self, what: str, hint: str = "", detail: str = "") -> None:
        self.what = what
        self.hint = hint
        self.detail = detail
        super().__init__(self.render())

    def render(self) -> str:
        parts = [self.what]
        if self.hint:
            parts.append(f"What to do: {self.hint}")
        if self.detail:
            parts.append(self.detail)
        return "\n".join(parts)
