def test_run_prints(silik):
    silik.ok("new python3 -l k1")
    res = silik.ok('run "print(6*7)" k1.py')
    assert res.stdout == "42\n"
