"""Independent MCP client for the remote suite: the Python MCP SDK against `serve --http`.

Usage: ASS_AGENT_KEY=... python mcp_client.py --transport sse|streamable --url http://127.0.0.1:PORT
                                               --namespace NS --key KEY --value VALUE
                                               [--idle SECONDS --sse-read-timeout SECONDS]

Connects with the x-agent-key header (never a query string), lists the tools, stores a secret,
reads it back and reads a secret outside the agent's grants; prints one JSON object on stdout.
With --idle, it first sits idle that long after initializing (as an agent waiting for a human
does), with the SDK's SSE read timeout set by --sse-read-timeout (the SDK's default is 300 s).
The key comes from the environment so it never shows in a process listing.
"""

import argparse
import asyncio
import json
import os
import sys

from mcp import ClientSession
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamablehttp_client


def structured(result):
    if getattr(result, "structuredContent", None) is not None:
        return result.structuredContent
    text = "".join(getattr(c, "text", "") for c in result.content)
    try:
        return json.loads(text)
    except ValueError:
        return {"text": text}


async def run(args):
    headers = {"x-agent-key": os.environ["ASS_AGENT_KEY"]}
    read_timeout = {"sse_read_timeout": args.sse_read_timeout} if args.sse_read_timeout else {}
    if args.transport == "sse":
        connection = sse_client(args.url + "/sse", headers=headers, **read_timeout)
    else:
        connection = streamablehttp_client(args.url + "/mcp", headers=headers, **read_timeout)
    async with connection as streams:
        read, write = streams[0], streams[1]
        async with ClientSession(read, write) as session:
            init = await session.initialize()
            if args.idle:
                await asyncio.sleep(args.idle)
            tools = await session.list_tools()
            stored = await session.call_tool("set_secret", {"namespace": args.namespace, "key": args.key, "value": args.value})
            got = await session.call_tool("get_secret", {"namespace": args.namespace, "key": args.key})
            denied = await session.call_tool("get_secret", {"namespace": "elsewhere/not-granted", "key": "X"})
            return {
                "server": init.serverInfo.name,
                "tools": sorted(t.name for t in tools.tools),
                "set": structured(stored),
                "get": structured(got),
                "denied_is_error": bool(denied.isError),
                "denied_text": "".join(getattr(c, "text", "") for c in denied.content),
            }


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--transport", choices=["sse", "streamable"], required=True)
    parser.add_argument("--url", required=True)
    parser.add_argument("--namespace", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--value", required=True)
    parser.add_argument("--idle", type=float, default=0)
    parser.add_argument("--sse-read-timeout", type=float, default=0)
    args = parser.parse_args()
    try:
        out = asyncio.run(run(args))
    except Exception as error:  # report the class only: messages could carry request details
        print(json.dumps({"error": type(error).__name__}))
        sys.exit(1)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
