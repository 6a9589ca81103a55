def test_code_flow_end_to_end(flow, person):
    result = flow.run(person.test_nik)
    assert "code" in result
    resp = flow.token(result["code"])
    assert resp.status_code == 200, resp.get_data(as_text=True)
    body = resp.get_json()
    info = flow.http.get("/userinfo", headers={"Authorization": "Bearer " + body["access_token"]})
    assert info.status_code == 200, info.get_data(as_text=True)
    assert info.get_json()["name"] == "Budi Santoso"
