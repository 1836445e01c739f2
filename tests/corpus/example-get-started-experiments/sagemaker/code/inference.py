# stand-in for the SageMaker inference code
