"""A stand-in for CANN's ATC (ONNX -> offline model), for tests: see ../README.md."""
import json
import sys
import zipfile

ALLOWED = {'model', 'framework', 'output', 'soc_version', 'input_format', 'input_shape',
           'insert_op_conf', 'keep_dtype', 'precision_mode_v2'}


def main(argv):
    args = {}
    for arg in argv:
        if not arg.startswith('--') or '=' not in arg:
            sys.exit(f'ATC stand-in: unexpected argument {arg!r}')
        key, value = arg[2:].split('=', 1)
        if key not in ALLOWED:
            sys.exit(f'ATC stand-in: unknown option --{key}')
        args[key] = value.strip('"')
    if args.get('framework') != '5':
        sys.exit('ATC stand-in: only --framework=5 (ONNX)')
    import onnx
    model = onnx.load(args['model'])
    shapes = dict(part.split(':', 1) for part in args['input_shape'].split(';'))
    for value in model.graph.input:
        dims = [d.dim_value for d in value.type.tensor_type.shape.dim]
        want = [int(v) for v in shapes.get(value.name, '').split(',') if v]
        if dims != want:
            sys.exit(f'ATC stand-in: input {value.name} is {dims}, --input_shape says {want}')
    with zipfile.ZipFile(args['output'] + '.om', 'w') as om:
        om.writestr('model.onnx', model.SerializeToString())
        if 'insert_op_conf' in args:
            om.writestr('aipp.cfg', open(args['insert_op_conf']).read())
        om.writestr('atc.json', json.dumps(args))
    print(f'ATC run success (stand-in): {args["output"]}.om')


if __name__ == '__main__':
    main(sys.argv[1:])
