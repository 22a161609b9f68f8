import asyncio

import nemo_flow

def redact_args(tool_name, args):
    return {**args, "api_key": "***"}

def add_header(name, request, annotated):
    request.headers["Authorization"] = "Bearer test-token"
    return request, annotated

async def tool_impl(args):
    return {"echo": args["query"]}

async def llm_impl(request):
    return {"messages": request.content["messages"], "ok": True}

async def main():
    nemo_flow.guardrails.register_tool_sanitize_request("redact", 10, redact_args)
    nemo_flow.intercepts.register_llm_request("auth", 10, False, add_header)

    with nemo_flow.scope.scope("demo-agent", nemo_flow.ScopeType.Agent):
        tool_result = await nemo_flow.tools.execute("search", {"query": "hello"}, tool_impl)
        llm_result = await nemo_flow.llm.execute(
            "demo-model",
            nemo_flow.LLMRequest({}, {"messages": [{"role": "user", "content": "hi"}]}),
            llm_impl,
        )

        print(tool_result, llm_result)

asyncio.run(main())
