"""jupyter_kernel_test's protocol suite against an agent kernel (the scripted `chef`)."""

from __future__ import annotations

import shutil
import tempfile

import jupyter_kernel_test as jkt
from agents_fixtures.kernels import clean_env, start_manager


class AgentKernelTests(jkt.KernelTests):
    kernel_name = "chef"
    language_name = "text"
    file_extension = ".txt"

    # "hello" makes the agent call a tool that prints "hello, world".
    code_hello_world = "hello"
    code_stderr = "print to stderr please"
    code_generate_error = "/no-such-command"
    code_display_data = [{"code": "tell me a story", "mime": "text/markdown"}]
    code_execute_result = [{"code": "/usage"}, {"code": "/model", "mime": "text/plain"}]
    code_history_pattern = "/us*"
    supported_history_operations = ("tail", "range", "search")
    code_inspect_sample = "/model"
    completion_samples = [
        {"text": "/he", "matches": {"/help"}},
        {"text": "/model tes", "matches": {"test"}},
    ]
    complete_code_samples = ["hello there", "/help", "//not a command"]
    incomplete_code_samples = ["a long message, continued \\"]
    invalid_code_samples = ["/no-such-command"]

    @classmethod
    def setUpClass(cls) -> None:
        cls._config_dir = tempfile.mkdtemp(prefix="silik-agents-config-")
        cls.km = start_manager(cls.kernel_name, clean_env(JUPYTER_CONFIG_DIR=cls._config_dir))
        cls.kc = cls.km.client()
        cls.kc.start_channels()
        cls.kc.wait_for_ready(timeout=60)

    @classmethod
    def tearDownClass(cls) -> None:
        super().tearDownClass()
        shutil.rmtree(cls._config_dir, ignore_errors=True)
