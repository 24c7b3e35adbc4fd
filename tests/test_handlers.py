"""Request and response shapes of the content handlers, and the bundled model
behind the SageMaker runtime contract."""

import json

from langchain_aws.llms.sagemaker_endpoint import LineIterator

from chat_core.catalog import GenerationParams, load_catalog
from chat_core.endpoint import endpoint_llm
from chat_core.handlers import Llama2ChatHandler, TGIHandler
from chat_core.prompts import CHATML, LLAMA2, Turn

KWARGS = {"max_new_tokens": 64, "temperature": 0.0, "top_p": 1.0, "seed": None, "stop": ["\nUser:"]}


def test_tgi_request_is_greedy_when_temperature_is_zero() -> None:
    body = json.loads(TGIHandler(stream=True).transform_input("User: hi\nAssistant:", KWARGS))
    assert body == {
        "inputs": "User: hi\nAssistant:",
        "parameters": {
            "max_new_tokens": 64,
            "stop": ["\nUser:"],
            "return_full_text": False,
            "do_sample": False,
        },
        "stream": True,
    }
    sampled = json.loads(TGIHandler().transform_input("x", {**KWARGS, "temperature": 0.7, "top_p": 0.9}))
    assert sampled["parameters"]["temperature"] == 0.7 and sampled["parameters"]["top_p"] == 0.9
    assert "stream" not in sampled


def test_tgi_stream_lines_skip_special_tokens_and_blank_lines() -> None:
    handler = TGIHandler(stream=True)
    lines = [
        b'data:{"token": {"id": 5, "text": " Hello", "special": false}, "generated_text": null}',
        b"",
        b'data:{"token": {"id": 2, "text": "</s>", "special": true}, "generated_text": " Hello"}',
    ]
    assert [handler.transform_output(line) for line in lines] == [" Hello", "", ""]


def test_llama2_request_is_the_jumpstart_dialog() -> None:
    prompt = LLAMA2.render("Be brief.", [Turn("Hi", "Hello!")], "How are you?")
    body = json.loads(Llama2ChatHandler().transform_input(prompt, {**KWARGS, "temperature": 0.6}))
    assert body["inputs"] == [
        [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello!"},
            {"role": "user", "content": "How are you?"},
        ]
    ]
    assert body["parameters"] == {"max_new_tokens": 64, "temperature": 0.6, "top_p": 1.0}
    assert Llama2ChatHandler.custom_attributes == "accept_eula=true"


def test_the_bundled_model_streams_what_it_answers_in_one_piece() -> None:
    spec = load_catalog()["local-smollm2"]
    params = GenerationParams(max_new_tokens=40, temperature=0.0, top_p=1.0)
    prompt = CHATML.render("Be brief.", [], "Name three colours.")
    whole = endpoint_llm(spec, params, streaming=False).invoke(prompt)
    streamed = list(endpoint_llm(spec, params, streaming=True).stream(prompt))
    assert whole.strip() and len(streamed) > 1
    assert "".join(streamed) == whole


def test_the_bundled_model_stream_is_made_of_payload_parts() -> None:
    spec = load_catalog()["local-smollm2"]
    llm = endpoint_llm(spec, GenerationParams(8, 0.0, 1.0))
    response = llm.client.invoke_endpoint_with_response_stream(
        EndpointName=spec.endpoint_name, Body=llm.content_handler.transform_input("Hi", llm.model_kwargs)
    )
    lines = [line for line in LineIterator(response["Body"]) if line]
    assert response["ContentType"] == "text/event-stream"
    assert all(line.startswith(b"data:") for line in lines)
    assert json.loads(lines[-1][5:])["generated_text"] == "".join(
        json.loads(line[5:])["token"]["text"] for line in lines[:-1]
    )
